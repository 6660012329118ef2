package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.FetchType;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.OneToOne;
import jakarta.persistence.Table;

/** The payment of an order, in points: exactly one per order. */
@Entity
@Table(name = "payments")
public class Payment extends UsersRow {

    @OneToOne(fetch = FetchType.LAZY, optional = false)
    @JoinColumn(name = "order_id", nullable = false, unique = true)
    private Order order;

    @Column(nullable = false)
    private long amount;

    protected Payment() {
    }

    public Payment(Order order, User user, long amount) {
        super(user);
        this.order = order;
        this.amount = amount;
    }
}
