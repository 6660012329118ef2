package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Table;
import java.time.LocalDateTime;

/**
 * A user and its point balance, mapped as the seed's team mapped it: every column of the row an
 * attribute, so a change of the managed entity makes Hibernate write the whole row back. The
 * attribute names order that statement (Hibernate sorts them):
 * {@code update users set deleted_at=?,is_deleted=?,point=?,username=? where id=?}.
 */
@Entity
@Table(name = "users")
public class User extends Row {

    @Column(nullable = false, length = 64)
    private String username;

    @Column(nullable = false)
    private long point;

    @Column(name = "is_deleted", nullable = false)
    private boolean isDeleted;

    @Column(name = "deleted_at")
    private LocalDateTime deletedAt;

    // The database's default; never part of the write-back.
    @Column(name = "created_at", nullable = false, insertable = false, updatable = false)
    private LocalDateTime createdAt;

    protected User() {
    }

    public long getPoint() {
        return point;
    }

    /** Pays `amount` out of the balance (the caller checked it covers it). */
    public void pay(long amount) {
        point -= amount;
    }
}
