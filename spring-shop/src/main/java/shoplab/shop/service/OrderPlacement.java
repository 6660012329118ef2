package shoplab.shop.service;

import jakarta.persistence.EntityManager;
import jakarta.persistence.LockModeType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;
import shoplab.shop.domain.Order;
import shoplab.shop.domain.OrderItem;
import shoplab.shop.domain.Payment;
import shoplab.shop.domain.PointHistory;
import shoplab.shop.domain.Product;
import shoplab.shop.domain.User;
import shoplab.shop.errors.ShopException;
import shoplab.shop.repository.OrderItemRepository;
import shoplab.shop.repository.OrderRepository;
import shoplab.shop.repository.PaymentRepository;
import shoplab.shop.repository.PointHistoryRepository;
import shoplab.shop.repository.ProductRepository;
import shoplab.shop.repository.SalesRepository;
import shoplab.shop.repository.UserRepository;

/**
 * Placing one order in one transaction, in the two strategies of the seed's story.
 *
 * <p>{@code naive} is the team's code: the order references the User entity, its insert makes
 * InnoDB share-lock the user's row (the foreign key check), and the payment changes the points
 * of the entity reached through the order, so Hibernate writes the whole row back. Two orders of
 * one user each hold the shared lock and want it exclusive: InnoDB kills one (1213) on
 * {@code update users set deleted_at=?,is_deleted=?,point=?,username=? where id=?}. The re-read
 * of the user after the insert is a locking read, so the survivor never loses the loser's
 * deduction: a deadlock, never a lost update.
 *
 * <p>{@code safe} is their fix: the user's balance changed by id with a guarded update first
 * (its exclusive lock at once, nothing to upgrade), then stock in ascending product id: one lock
 * order for every order.
 *
 * <p>Either way the order, its lines, the payment, the point use and the daily sales are written
 * together or not at all.
 */
@Service
public class OrderPlacement {

    private final EntityManager entities;
    private final UserRepository users;
    private final ProductRepository products;
    private final OrderRepository orders;
    private final OrderItemRepository items;
    private final PaymentRepository payments;
    private final PointHistoryRepository history;
    private final SalesRepository sales;

    public OrderPlacement(EntityManager entities, UserRepository users, ProductRepository products,
                          OrderRepository orders, OrderItemRepository items, PaymentRepository payments,
                          PointHistoryRepository history, SalesRepository sales) {
        this.entities = entities;
        this.users = users;
        this.products = products;
        this.orders = orders;
        this.items = items;
        this.payments = payments;
        this.history = history;
        this.sales = sales;
    }

    @Transactional
    public OrderBody placeSafe(long userId, List<OrderLine> lines, String key, String hash) {
        // Products in ascending id: the one lock order of every safe order.
        Map<Long, Integer> quantities = new TreeMap<>();
        lines.forEach(line -> quantities.put(line.productId(), line.quantity()));
        Map<Long, Long> prices = new HashMap<>();
        products.findPrices(quantities.keySet()).forEach(p -> prices.put(p.getId(), p.getPrice()));
        for (long productId : quantities.keySet()) {
            if (!prices.containsKey(productId)) {
                throw unknownProduct(lines, productId);
            }
        }
        long total = total(userId, lines, prices);
        if (users.payFromBalance(userId, total) != 1) {
            if (!users.existsById(userId)) {
                throw unknownUser(userId);
            }
            throw insufficientPoints(userId, total);
        }
        for (Map.Entry<Long, Integer> line : quantities.entrySet()) {
            if (products.takeStock(line.getKey(), line.getValue()) != 1) {
                throw outOfStock(lines, line.getKey());
            }
        }
        User user = entities.getReference(User.class, userId);
        Order order = orders.save(new Order(user, total, key, hash));
        for (OrderLine line : lines) {
            Product product = entities.getReference(Product.class, line.productId());
            items.save(new OrderItem(order, product, line.quantity(), prices.get(line.productId())));
        }
        recordPayment(order, user, total, quantities);
        return body(order.getId(), userId, total, lines, prices);
    }

    @Transactional
    public OrderBody placeNaive(long userId, List<OrderLine> lines, String key, String hash) {
        // Plain reads, as the team's code loaded the user and the cart's products.
        User user = users.findById(userId).orElseThrow(() -> unknownUser(userId));
        Map<Long, Long> prices = new HashMap<>();
        Map<Long, Product> loaded = new HashMap<>();
        for (OrderLine line : lines) {
            Product product = products.findById(line.productId())
                    .orElseThrow(() -> unknownProduct(lines, line.productId()));
            loaded.put(product.getId(), product);
            prices.put(product.getId(), product.getPrice());
        }
        long total = total(userId, lines, prices);
        // The order insert comes first: its foreign key check share-locks the users row...
        Order order = orders.save(new Order(user, total, key, hash));
        for (OrderLine line : lines) {
            items.save(new OrderItem(order, loaded.get(line.productId()), line.quantity(),
                    prices.get(line.productId())));
        }
        for (OrderLine line : lines) { // stock in request order, as the cart was walked
            if (products.takeStock(line.productId(), line.quantity()) != 1) {
                throw outOfStock(lines, line.productId());
            }
        }
        // A locking read (lock in share mode): the balance now, and nobody changes it under us.
        entities.refresh(user, LockModeType.PESSIMISTIC_READ);
        if (user.getPoint() < total) {
            throw insufficientPoints(userId, total);
        }
        // ...and the payment changes the user through the order: Hibernate flushes the whole
        // row, which wants the lock exclusive. Two such orders of one user deadlock here.
        order.getUser().pay(total);
        users.saveAndFlush(user);
        Map<Long, Integer> quantities = new TreeMap<>();
        lines.forEach(line -> quantities.put(line.productId(), line.quantity()));
        recordPayment(order, user, total, quantities);
        return body(order.getId(), userId, total, lines, prices);
    }

    /** Payment, point use, and each product's units added to today's sales (in id order). */
    private void recordPayment(Order order, User user, long total, Map<Long, Integer> quantities) {
        payments.save(new Payment(order, user, total));
        history.save(new PointHistory(user, PointHistory.Kind.use, total, order));
        quantities.forEach(sales::addSales);
    }

    private static long total(long userId, List<OrderLine> lines, Map<Long, Long> prices) {
        try {
            long total = 0;
            for (OrderLine line : lines) {
                total = Math.addExact(total, Math.multiplyExact(prices.get(line.productId()), line.quantity()));
            }
            return total;
        } catch (ArithmeticException e) {
            // More than any balance can hold (a BIGINT): nobody has that many points.
            throw ShopException.insufficientPoints(
                    "user " + userId + " has fewer points than this order costs", "user_id");
        }
    }

    private static OrderBody body(long orderId, long userId, long total, List<OrderLine> lines,
                                  Map<Long, Long> prices) {
        List<OrderBody.Item> out = new ArrayList<>();
        for (OrderLine line : lines) {
            out.add(new OrderBody.Item(line.productId(), line.quantity(), prices.get(line.productId())));
        }
        return new OrderBody(orderId, userId, total, Order.PAID, out);
    }

    private static int lineIndex(List<OrderLine> lines, long productId) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).productId() == productId) {
                return lines.get(i).line() >= 0 ? lines.get(i).line() : i;
            }
        }
        throw new IllegalArgumentException("product " + productId + " is in no line");
    }

    static ShopException unknownUser(long userId) {
        return ShopException.notFound("user " + userId + " does not exist", "user_id");
    }

    private static ShopException unknownProduct(List<OrderLine> lines, long productId) {
        return ShopException.notFound("product " + productId + " does not exist",
                "items[" + lineIndex(lines, productId) + "].product_id");
    }

    private static ShopException outOfStock(List<OrderLine> lines, long productId) {
        long wanted = lines.stream().filter(l -> l.productId() == productId)
                .mapToLong(OrderLine::quantity).sum();
        return ShopException.outOfStock("product " + productId + " has less than " + wanted
                + " in stock", "items[" + lineIndex(lines, productId) + "].quantity");
    }

    private static ShopException insufficientPoints(long userId, long total) {
        return ShopException.insufficientPoints(
                "user " + userId + " has fewer than " + total + " points", "user_id");
    }
}
