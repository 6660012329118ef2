package shoplab.shop.service;

import jakarta.persistence.EntityManager;
import org.springframework.stereotype.Service;
import shoplab.shop.config.ShopSettings;
import shoplab.shop.db.Database;
import shoplab.shop.domain.PointHistory;
import shoplab.shop.domain.User;
import shoplab.shop.errors.ShopException;
import shoplab.shop.repository.PointHistoryRepository;
import shoplab.shop.repository.UserRepository;

/** User points: reading the balance, and charging (topping up) it with its history row. */
// A record, so never proxied: its transactions are OrderPlacement's and Database's, not advice
// on it (a @Transactional here would fail at start-up).
@Service
public record PointsService(UserRepository users, PointHistoryRepository history, EntityManager entities,
                            Database database, ShopSettings settings) {

    /** A user's balance as the API answers it. */
    public record Points(long userId, long point) {
    }

    public Points points(long userId) {
        long point = database.read("get_points", () -> users.findPoint(userId))
                .orElseThrow(() -> OrderPlacement.unknownUser(userId));
        return new Points(userId, point);
    }

    /** Adds `amount` points and records the charge, in one transaction. */
    public Points charge(long userId, long amount) {
        long point = database.write("charge_points", settings.orderMaxRetries(), () -> {
            if (users.addPoints(userId, amount) != 1) {
                throw OrderPlacement.unknownUser(userId);
            }
            User user = entities.getReference(User.class, userId);
            history.save(new PointHistory(user, PointHistory.Kind.charge, amount, null));
            return users.findPoint(userId).orElseThrow();
        });
        return new Points(userId, point);
    }
}
