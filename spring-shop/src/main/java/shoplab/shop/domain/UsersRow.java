package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.FetchType;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.MappedSuperclass;
import java.time.LocalDateTime;

/**
 * A row that belongs to a user and is stamped by the database: an order, its payment, a
 * movement of points.
 * Its foreign key to {@code users} is what share-locks the user's row on insert.
 */
@MappedSuperclass
public abstract class UsersRow extends Row {

    @ManyToOne(fetch = FetchType.LAZY, optional = false)
    @JoinColumn(name = "user_id", nullable = false)
    private User user;

    @Column(name = "created_at", nullable = false, insertable = false, updatable = false)
    private LocalDateTime createdAt;

    protected UsersRow() {
    }

    protected UsersRow(User user) {
        this.user = user;
    }

    public User getUser() {
        return user;
    }
}
