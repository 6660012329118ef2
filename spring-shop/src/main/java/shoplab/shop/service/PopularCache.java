package shoplab.shop.service;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.data.redis.core.StringRedisTemplate;
import org.springframework.data.redis.core.script.DefaultRedisScript;
import org.springframework.stereotype.Component;
import shoplab.shop.config.ShopSettings;
import shoplab.shop.metrics.ShopMetrics;

/**
 * The popular list's two cache tiers, as the Flask shop has them (shop/cache.py,
 * shop/local_cache.py), down to Redis's keys and entries, so both shops can share one Redis.
 *
 * <p>In front, this process keeps the response bytes for SHOP_POPULAR_LOCAL_TTL_SECONDS: one
 * thread per key refreshes an aged entry while the others serve the old bytes. Behind it, Redis
 * holds {@code {"fresh_until", "value"}} under {@code shop:popular:v1:DAYS:LIMIT}, fresh for
 * SHOP_POPULAR_CACHE_TTL_SECONDS and kept six times as long: a stale entry is served while the
 * holder of a short Redis lock recomputes it (one query per expiry, not one per request), a cold
 * key makes the others wait up to 250 ms for it. A Redis error is counted, the list comes from
 * the database, and Redis is left alone for a second.
 */
@Component
public class PopularCache {

    private static final Logger log = LoggerFactory.getLogger(PopularCache.class);
    private static final int MAX_LOCAL_KEYS = 256;
    private static final long LOCK_MS = 2000;
    private static final long COLD_WAIT_NANOS = 250_000_000L;
    private static final long BREAKER_NANOS = 1_000_000_000L;
    // Delete the refresh lock only if we still own it.
    private static final DefaultRedisScript<Long> RELEASE = new DefaultRedisScript<>(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
                    + "return 0", Long.class);

    private record Local(long freshUntil, byte[] body) {
    }

    private final CatalogService catalog;
    private final StringRedisTemplate redis;
    private final ObjectMapper json;
    private final ShopMetrics metrics;
    private final double ttl;
    private final long keepMs;
    private final long localNanos;
    private final Map<String, Local> local = new LinkedHashMap<>();
    private final Map<String, ReentrantLock> flights = new LinkedHashMap<>();
    private volatile long redisClosedUntil;

    public PopularCache(CatalogService catalog, StringRedisTemplate redis, ObjectMapper json,
                        ShopMetrics metrics, ShopSettings settings) {
        this.catalog = catalog;
        this.redis = redis;
        this.json = json;
        this.metrics = metrics;
        this.ttl = settings.popularCacheTtl();
        this.keepMs = Math.round(ttl * 6 * 1000);
        this.localNanos = Math.round(settings.popularLocalTtl() * 1e9);
        this.redisClosedUntil = System.nanoTime();
    }

    /** The popular list's JSON bytes for the window. */
    public byte[] popular(int days, int limit) {
        String key = "shop:popular:v1:" + days + ":" + limit;
        if (localNanos <= 0) {
            return serialize(fromRedis(key, days, limit));
        }
        Local entry;
        synchronized (local) {
            entry = local.get(key);
        }
        if (entry != null && System.nanoTime() < entry.freshUntil) {
            metrics.cache("popular_local", "hit");
            return entry.body;
        }
        ReentrantLock flight = flight(key);
        if (entry != null && !flight.tryLock()) {
            metrics.cache("popular_local", "hit"); // another thread is refreshing: old bytes do
            return entry.body;
        }
        if (entry == null) {
            flight.lock();
        }
        try {
            Local latest;
            synchronized (local) {
                latest = local.get(key);
            }
            if (latest != null && latest != entry && System.nanoTime() < latest.freshUntil) {
                metrics.cache("popular_local", "hit"); // computed while we waited
                return latest.body;
            }
            metrics.cache("popular_local", "miss");
            byte[] body = serialize(fromRedis(key, days, limit));
            store(key, new Local(System.nanoTime() + localNanos, body));
            return body;
        } finally {
            flight.unlock();
        }
    }

    private ReentrantLock flight(String key) {
        synchronized (local) {
            return flights.computeIfAbsent(key, k -> new ReentrantLock());
        }
    }

    private void store(String key, Local entry) {
        synchronized (local) {
            local.remove(key);
            Iterator<String> oldest = local.keySet().iterator();
            while (local.size() >= MAX_LOCAL_KEYS && oldest.hasNext()) {
                flights.remove(oldest.next());
                oldest.remove();
            }
            local.put(key, entry);
        }
    }

    private JsonNode fromRedis(String key, int days, int limit) {
        if (System.nanoTime() - redisClosedUntil < 0) {
            metrics.cache("popular", "error");
            return compute(days, limit);
        }
        try {
            return viaRedis(key, days, limit);
        } catch (org.springframework.dao.DataAccessException e) {
            log.warn("cache popular: redis unavailable ({}); serving from the database", e.getMessage());
            redisClosedUntil = System.nanoTime() + BREAKER_NANOS;
            metrics.cache("popular", "error");
            return compute(days, limit);
        }
    }

    private JsonNode viaRedis(String key, int days, int limit) {
        JsonNode entry = read(key);
        if (entry != null && fresh(entry)) {
            metrics.cache("popular", "hit");
            return entry.get("value");
        }
        String token = UUID.randomUUID().toString();
        if (Boolean.TRUE.equals(redis.opsForValue()
                .setIfAbsent(key + ":refresh", token, Duration.ofMillis(LOCK_MS)))) {
            try {
                // Whoever held the lock before us may have just refreshed: check again.
                JsonNode latest = read(key);
                if (latest != null && fresh(latest)) {
                    metrics.cache("popular", "hit");
                    return latest.get("value");
                }
                metrics.cache("popular", "miss");
                JsonNode value = compute(days, limit);
                Map<String, Object> stored = new LinkedHashMap<>();
                stored.put("fresh_until", System.currentTimeMillis() / 1000.0 + ttl);
                stored.put("value", value);
                redis.opsForValue().set(key, json.writeValueAsString(stored), Duration.ofMillis(keepMs));
                return value;
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            } finally {
                redis.execute(RELEASE, List.of(key + ":refresh"), token);
            }
        }
        if (entry != null) {
            metrics.cache("popular", "hit"); // someone is refreshing: the stale value will do
            return entry.get("value");
        }
        long deadline = System.nanoTime() + COLD_WAIT_NANOS;
        while (System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            entry = read(key);
            if (entry != null) {
                metrics.cache("popular", "hit");
                return entry.get("value");
            }
        }
        metrics.cache("popular", "miss");
        return compute(days, limit);
    }

    private JsonNode read(String key) {
        String raw = redis.opsForValue().get(key);
        if (raw == null) {
            return null;
        }
        try {
            return json.readTree(raw);
        } catch (JsonProcessingException e) {
            return null; // not an entry of ours: recomputed and overwritten
        }
    }

    private static boolean fresh(JsonNode entry) {
        return entry.path("fresh_until").asDouble() > System.currentTimeMillis() / 1000.0;
    }

    private JsonNode compute(int days, int limit) {
        return json.valueToTree(catalog.popular(days, limit));
    }

    private byte[] serialize(JsonNode value) {
        try {
            return json.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
