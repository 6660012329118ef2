package shoplab.shop.config;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * The Spring shop's configuration: a frozen record built from an environment mapping, read with
 * the Flask shop's variable names and defaults wherever they apply (shop/settings.py,
 * shop/serve.py). Nothing else reads the environment; a bad value fails the start with one
 * line naming the variable.
 *
 * @param threads request threads (Tomcat's pool); the Flask shop's workers x threads
 * @param dbPoolSize HikariCP's connections; by default one per request thread
 */
public record ShopSettings(
        DatabaseUrl database,
        String redisUrl,
        String orderStrategy,
        String host,
        int port,
        int threads,
        int dbPoolSize,
        double dbPoolTimeout,
        int lockWaitTimeout,
        double dbConnectTimeout,
        int orderMaxRetries,
        double popularCacheTtl,
        double popularLocalTtl,
        long maxCharge,
        int maxBodyBytes,
        int debugDelayMs,
        String logLevel) {

    public static final List<String> STRATEGIES = List.of("safe", "naive");
    public static final String DEFAULT_BIND = "127.0.0.1:8000";
    static final int DEFAULT_THREADS = 16;

    public static ShopSettings fromEnv(Map<String, String> env) {
        DatabaseUrl database = DatabaseUrl.parse("SHOP_DATABASE_URL", env.get("SHOP_DATABASE_URL"));
        String redisUrl = or(env.get("SHOP_REDIS_URL"), "redis://127.0.0.1:6379/0");
        if (!redisUrl.startsWith("redis://") && !redisUrl.startsWith("rediss://")) {
            throw new SettingsException("SHOP_REDIS_URL must be a redis:// URL, got '" + redisUrl + "'");
        }
        String strategy = or(env.get("SHOP_ORDER_STRATEGY"), "safe");
        if (!STRATEGIES.contains(strategy)) {
            throw new SettingsException("SHOP_ORDER_STRATEGY='" + strategy + "' is not one of "
                    + String.join(", ", STRATEGIES));
        }
        // The queued daily sales (shop.sales) are the Flask shop's alone: say so, never ignore it.
        String salesMode = or(env.get("SHOP_SALES_MODE"), "sync");
        if (!salesMode.equals("sync")) {
            throw new SettingsException("SHOP_SALES_MODE='" + salesMode
                    + "': the Spring shop keeps the daily sales in the order (sync) only");
        }
        String bind = or(env.get("SHOP_BIND"), DEFAULT_BIND);
        int colon = bind.lastIndexOf(':');
        String host = colon > 0 ? bind.substring(0, colon).replace("[", "").replace("]", "") : "";
        String portText = colon > 0 ? bind.substring(colon + 1) : "";
        if (host.isEmpty() || !portText.matches("\\d{1,5}") || Integer.parseInt(portText) < 1
                || Integer.parseInt(portText) > 65535) {
            throw new SettingsException("SHOP_BIND must be HOST:PORT, got '" + bind + "'");
        }
        String level = or(env.get("SHOP_LOG_LEVEL"), "info").toLowerCase(Locale.ROOT);
        if (!List.of("debug", "info", "warning", "error", "critical").contains(level)) {
            throw new SettingsException("SHOP_LOG_LEVEL='" + level
                    + "' is not debug, info, warning or error");
        }
        int threads = (int) number(env, "SHOP_THREADS", DEFAULT_THREADS, 1, 1024);
        return new ShopSettings(
                database,
                redisUrl,
                strategy,
                host,
                Integer.parseInt(portText),
                threads,
                (int) number(env, "SHOP_DB_POOL_SIZE", threads, 1, 200),
                // HikariCP takes no connection timeout under 250 ms.
                decimal(env, "SHOP_DB_POOL_TIMEOUT", 2.0, 0.25, 60),
                (int) number(env, "SHOP_LOCK_WAIT_TIMEOUT", 5, 1, 3600),
                decimal(env, "SHOP_DB_CONNECT_TIMEOUT", 2.0, 0.1, 60),
                (int) number(env, "SHOP_ORDER_MAX_RETRIES", 5, 0, 20),
                decimal(env, "SHOP_POPULAR_CACHE_TTL_SECONDS", 5.0, 0.1, 3600),
                decimal(env, "SHOP_POPULAR_LOCAL_TTL_SECONDS", 1.0, 0, 60),
                number(env, "SHOP_MAX_CHARGE", 1_000_000, 1, 1_000_000_000_000L),
                64 * 1024,
                (int) number(env, "SHOP_DEBUG_DELAY_MS", 0, 0, 10_000),
                level);
    }

    /**
     * Seconds one statement may go unanswered before the connection is given up: longer than a
     * lock wait, so that a lock wait ends with its own error (1205), not a cut.
     */
    public double dbReadTimeout() {
        return lockWaitTimeout + 2.0;
    }

    public String jdbcUrl() {
        return database.jdbcUrl(dbConnectTimeout, dbReadTimeout());
    }

    private static String or(String value, String fallback) {
        return value == null || value.isEmpty() ? fallback : value;
    }

    static long number(Map<String, String> env, String name, long fallback, long lo, long hi) {
        return parsed(env, name, fallback, lo, hi, Long::parseLong, "an integer");
    }

    static double decimal(Map<String, String> env, String name, double fallback, double lo, double hi) {
        return parsed(env, name, fallback, lo, hi, Double::parseDouble, "a number");
    }

    /** `env[name]` read by `parse` and checked in [lo, hi]; `fallback` when unset or empty. */
    private static <T extends Comparable<T>> T parsed(Map<String, String> env, String name, T fallback,
                                                     T lo, T hi, Function<String, T> parse, String kind) {
        String raw = env.get(name);
        if (raw == null || raw.isEmpty()) {
            return fallback;
        }
        T value;
        try {
            value = parse.apply(raw.trim());
        } catch (NumberFormatException e) {
            throw new SettingsException(name + "='" + raw + "' is not " + kind);
        }
        // NaN compares above everything: out of range too.
        if (value.compareTo(lo) < 0 || value.compareTo(hi) > 0) {
            throw new SettingsException(name + "=" + raw.trim() + " is out of range [" + lo + ", " + hi + "]");
        }
        return value;
    }
}
