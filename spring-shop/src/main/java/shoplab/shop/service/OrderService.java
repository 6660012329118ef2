package shoplab.shop.service;

import java.util.List;
import java.util.Optional;
import org.springframework.stereotype.Service;
import shoplab.shop.config.ShopSettings;
import shoplab.shop.db.Database;
import shoplab.shop.db.DuplicateKeyFailure;
import shoplab.shop.errors.ShopException;
import shoplab.shop.metrics.ShopMetrics;
import shoplab.shop.repository.OrderRepository;

/**
 * Orders as the API sees them: an Idempotency-Key's replay, the running strategy's transaction
 * (retried on deadlock for {@code safe} only: the team's code had no retry), a lost race for a
 * key answered with the winner's order, and every attempt counted by strategy and result.
 */
// A record, so never proxied: its transactions are OrderPlacement's and Database's, not advice
// on it (a @Transactional here would fail at start-up).
@Service
public record OrderService(OrderPlacement placement, OrderRepository orders, Database database,
                           ShopMetrics metrics, ShopSettings settings) {

    public PlacedOrder placeOrder(long userId, List<OrderLine> lines, String key) {
        String hash = RequestHash.of(userId, lines);
        long started = System.nanoTime();
        String result = "error";
        try {
            if (key != null) {
                Optional<OrderBody> replay = replay(userId, key, hash);
                if (replay.isPresent()) {
                    result = "replayed";
                    return new PlacedOrder(replay.get(), true);
                }
            }
            OrderBody order;
            try {
                order = database.write("place_order", retries(), () -> strategy().equals("safe")
                        ? placement.placeSafe(userId, lines, key, hash)
                        : placement.placeNaive(userId, lines, key, hash));
            } catch (DuplicateKeyFailure e) {
                if (key == null) {
                    throw Database.unavailable("other", "place_order");
                }
                // Lost the race for this key: the winner's order is the answer (nothing charged).
                OrderBody winner = replay(userId, key, hash)
                        .orElseThrow(() -> Database.unavailable("other", "place_order"));
                result = "replayed";
                return new PlacedOrder(winner, true);
            }
            result = "created";
            return new PlacedOrder(order, false);
        } catch (ShopException e) {
            result = !e.isUnavailable() ? e.code()
                    : e.code().equals("deadlock") || e.code().equals("lock_wait_timeout") ? e.code() : "error";
            throw e;
        } finally {
            metrics.orderFinished(strategy(), result, System.nanoTime() - started);
        }
    }

    public OrderBody getOrder(long orderId) {
        return database.read("get_order", () -> read(orderId))
                .orElseThrow(() -> ShopException.notFound("order " + orderId + " does not exist", "order_id"));
    }

    private Optional<OrderBody> replay(long userId, String key, String hash) {
        return database.read("place_order", () -> orders.findByKey(userId, key).map(found -> {
            if (!found.getRequestHash().equals(hash)) {
                throw ShopException.keyReused();
            }
            return read(found.getId()).orElseThrow();
        }));
    }

    private Optional<OrderBody> read(long orderId) {
        return orders.findSummary(orderId).map(o -> new OrderBody(o.getId(), o.getUserId(), o.getTotal(),
                o.getStatus(), orders.findLines(orderId).stream()
                        .map(l -> new OrderBody.Item(l.getProductId(), l.getQuantity(), l.getPrice()))
                        .toList()));
    }

    public String strategy() {
        return settings.orderStrategy();
    }

    private int retries() {
        return strategy().equals("safe") ? settings.orderMaxRetries() : 0;
    }
}
