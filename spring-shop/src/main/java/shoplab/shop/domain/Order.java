package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.FetchType;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.Table;
import java.time.LocalDateTime;

/**
 * An order, paid at once. It references the {@link User} entity: inserting it makes InnoDB check
 * the foreign key, which share-locks the user's row until the transaction ends.
 */
@Entity
@Table(name = "orders")
public class Order extends Row {

    public static final String PAID = "paid";

    @ManyToOne(fetch = FetchType.LAZY, optional = false)
    @JoinColumn(name = "user_id", nullable = false)
    private User user;

    @Column(nullable = false)
    private long total;

    @Column(nullable = false, length = 16)
    private String status;

    @Column(name = "idempotency_key", length = 64)
    private String idempotencyKey;

    @Column(name = "request_hash", length = 64)
    private String requestHash;

    @Column(name = "created_at", nullable = false, insertable = false, updatable = false)
    private LocalDateTime createdAt;

    protected Order() {
    }

    public Order(User user, long total, String idempotencyKey, String requestHash) {
        this.user = user;
        this.total = total;
        this.status = PAID;
        this.idempotencyKey = idempotencyKey;
        this.requestHash = requestHash;
    }

    public User getUser() {
        return user;
    }
}
