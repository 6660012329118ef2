package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Table;

/**
 * An order, paid at once. It references the {@link User} entity: inserting it makes InnoDB check
 * the foreign key, which share-locks the user's row until the transaction ends.
 */
@Entity
@Table(name = "orders")
public class Order extends UsersRow {

    public static final String PAID = "paid";

    @Column(nullable = false)
    private long total;

    @Column(nullable = false, length = 16)
    private String status;

    @Column(name = "idempotency_key", length = 64)
    private String idempotencyKey;

    @Column(name = "request_hash", length = 64)
    private String requestHash;

    protected Order() {
    }

    public Order(User user, long total, String idempotencyKey, String requestHash) {
        super(user);
        this.total = total;
        this.status = PAID;
        this.idempotencyKey = idempotencyKey;
        this.requestHash = requestHash;
    }
}
