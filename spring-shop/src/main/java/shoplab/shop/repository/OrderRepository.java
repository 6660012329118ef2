package shoplab.shop.repository;

import java.util.List;
import java.util.Optional;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;
import shoplab.shop.domain.Order;

/** Orders and their lines, read back as the API shows them. */
public interface OrderRepository extends JpaRepository<Order, Long> {

    /** An order's row, its user as the foreign key's value (no join). */
    interface Summary {
        long getId();

        long getUserId();

        long getTotal();

        String getStatus();
    }

    /** A line of an order. */
    interface Line {
        long getProductId();

        int getQuantity();

        long getPrice();
    }

    /** What an Idempotency-Key already bought. */
    interface Keyed {
        long getId();

        String getRequestHash();
    }

    @Query("select o.id as id, o.user.id as userId, o.total as total, o.status as status"
            + " from Order o where o.id = :id")
    Optional<Summary> findSummary(@Param("id") long id);

    @Query("select i.product.id as productId, i.quantity as quantity, i.price as price"
            + " from OrderItem i where i.order.id = :orderId order by i.id")
    List<Line> findLines(@Param("orderId") long orderId);

    @Query("select o.id as id, o.requestHash as requestHash from Order o"
            + " where o.user.id = :userId and o.idempotencyKey = :key")
    Optional<Keyed> findByKey(@Param("userId") long userId, @Param("key") String key);
}
