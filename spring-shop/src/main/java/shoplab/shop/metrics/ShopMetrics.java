package shoplab.shop.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.springframework.stereotype.Component;
import shoplab.shop.config.ShopSettings;

/**
 * The domain metrics under the Flask shop's names and labels (docs/metrics.md), registered
 * through Micrometer: {@code shop.orders} is exported as {@code shop_orders_total}, the
 * {@code shop.order.duration} timer as {@code shop_order_duration_seconds_bucket/_count/_sum}.
 * Every known label set exists at 0 from the start: a series born with its first event would
 * lose that event to rate() and increase() (and to the alerts on them).
 */
@Component
public class ShopMetrics {

    /** The {@code operation} label values, as the Flask shop's (shop/metrics.py). */
    public static final List<String> OPERATIONS = List.of("list_products", "get_product",
            "popular_products", "get_points", "charge_points", "get_order", "place_order");
    public static final List<String> RETRIED_OPERATIONS = List.of("place_order", "charge_points");
    public static final List<String> ERROR_KINDS =
            List.of("deadlock", "lock_wait_timeout", "disconnect", "other");
    public static final List<String> ORDER_RESULTS = List.of("created", "replayed", "out_of_stock",
            "insufficient_points", "idempotency_key_reused", "not_found", "deadlock",
            "lock_wait_timeout", "error");
    public static final Map<String, List<String>> CACHE_RESULTS = Map.of(
            "popular", List.of("hit", "miss", "error"),
            "popular_local", List.of("hit", "miss"));
    /** The Flask shop's latency buckets (around the SLOs: popular 50 ms, orders 200 ms). */
    public static final double[] LATENCY_BUCKETS = {0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075,
        0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0};

    private final MeterRegistry registry;
    private final Map<String, Counter> orders = new HashMap<>();
    private final Map<String, Counter> dbErrors = new HashMap<>();
    private final Map<String, Counter> dbRetries = new HashMap<>();
    private final Map<String, Counter> cache = new HashMap<>();
    private final Map<String, Timer> orderDuration = new HashMap<>();

    public ShopMetrics(MeterRegistry registry, ShopSettings settings) {
        this.registry = registry;
        // The running strategy's series only, as the Flask shop exports them.
        for (String strategy : List.of(settings.orderStrategy())) {
            orderDuration.put(strategy, Timer.builder("shop.order.duration")
                    .description("Time to place an order, retries included.")
                    .tag("strategy", strategy)
                    .serviceLevelObjectives(buckets())
                    .register(registry));
            for (String result : ORDER_RESULTS) {
                orders.put(strategy + "/" + result, counter(ORDERS, "strategy", strategy, "result", result));
            }
        }
        for (String operation : OPERATIONS) {
            for (String kind : ERROR_KINDS) {
                dbErrors.put(operation + "/" + kind, counter(DB_ERRORS, "operation", operation, "kind", kind));
            }
        }
        for (String operation : RETRIED_OPERATIONS) {
            dbRetries.put(operation, counter(DB_RETRIES, "operation", operation));
        }
        CACHE_RESULTS.forEach((name, results) -> results.forEach(result ->
                cache.put(name + "/" + result, counter(CACHE, "cache", name, "result", result))));
    }

    // Name and help of each counter (Micrometer adds the _total).
    private static final String[] ORDERS = {"shop.orders", "Order attempts by strategy and result."};
    private static final String[] DB_ERRORS = {"shop.db.errors", "Database errors by operation and kind."};
    private static final String[] DB_RETRIES = {"shop.db.retries", "Transactions retried after a deadlock."};
    private static final String[] CACHE = {"shop.cache.requests",
        "Cache lookups by cache and result (hit, miss, error)."};

    private Counter counter(String[] meter, String... tags) {
        return Counter.builder(meter[0]).description(meter[1]).tags(tags).register(registry);
    }

    private static Duration[] buckets() {
        Duration[] out = new Duration[LATENCY_BUCKETS.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Duration.ofNanos(Math.round(LATENCY_BUCKETS[i] * 1e9));
        }
        return out;
    }

    public void orderFinished(String strategy, String result, long nanos) {
        orders.computeIfAbsent(strategy + "/" + result,
                k -> counter(ORDERS, "strategy", strategy, "result", result)).increment();
        orderDuration.get(strategy).record(Duration.ofNanos(nanos));
    }

    public void dbError(String operation, String kind) {
        dbErrors.get(operation + "/" + kind).increment();
    }

    public void dbRetry(String operation) {
        dbRetries.get(operation).increment();
    }

    public void cache(String name, String result) {
        cache.get(name + "/" + result).increment();
    }
}
