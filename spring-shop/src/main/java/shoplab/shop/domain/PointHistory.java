package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.EnumType;
import jakarta.persistence.Enumerated;
import jakarta.persistence.FetchType;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.Table;

/** A movement of a user's points: the audit adds them up against the balance. */
@Entity
@Table(name = "point_history")
public class PointHistory extends UsersRow {

    /** The column's ENUM values, spelled as stored. */
    public enum Kind { seed, charge, use }

    @Enumerated(EnumType.STRING)
    @Column(nullable = false)
    private Kind kind;

    @Column(nullable = false)
    private long amount;

    @ManyToOne(fetch = FetchType.LAZY)
    @JoinColumn(name = "order_id")
    private Order order;

    protected PointHistory() {
    }

    public PointHistory(User user, Kind kind, long amount, Order order) {
        super(user);
        this.kind = kind;
        this.amount = amount;
        this.order = order;
    }
}
