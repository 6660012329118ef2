package shoplab.shop;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLTransactionRollbackException;
import org.junit.jupiter.api.Test;
import org.springframework.dao.CannotAcquireLockException;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.transaction.CannotCreateTransactionException;
import shoplab.shop.db.Database;
import shoplab.shop.db.DatabaseErrors;

/** MySQL's error numbers under Spring's and Hibernate's wrapping: the kind, and the 503 said. */
class DatabaseErrorsTest {

    @Test
    void theSeedsDeadlockIsADeadlock() {
        var sql = new SQLTransactionRollbackException(
                "Deadlock found when trying to get lock; try restarting transaction", "40001", 1213);
        var wrapped = new CannotAcquireLockException("could not execute statement",
                new org.hibernate.exception.LockAcquisitionException("could not execute statement", sql));
        assertThat(DatabaseErrors.classify(wrapped)).isEqualTo("deadlock");
    }

    @Test
    void everyKindFromItsCode() {
        assertThat(DatabaseErrors.classify(new SQLException("Lock wait timeout", "HY000", 1205)))
                .isEqualTo("lock_wait_timeout");
        assertThat(DatabaseErrors.classify(new DataIntegrityViolationException("dup",
                new SQLException("Duplicate entry", "23000", 1062)))).isEqualTo(DatabaseErrors.DUPLICATE);
        assertThat(DatabaseErrors.classify(new CannotCreateTransactionException("no connection",
                new SQLNonTransientConnectionException("Socket fail to connect", "08000", 0))))
                .isEqualTo("disconnect");
        assertThat(DatabaseErrors.classify(new SQLException("gone away", null, 2006))).isEqualTo("disconnect");
        assertThat(DatabaseErrors.classify(new SQLException("syntax", "42000", 1064))).isEqualTo("other");
        assertThat(DatabaseErrors.classify(new IllegalStateException("no SQL in here"))).isEqualTo("other");
    }

    @Test
    void unavailableBodiesAreTheFlaskShops() {
        assertThat(Database.unavailable("deadlock", "place_order").code()).isEqualTo("deadlock");
        assertThat(Database.unavailable("lock_wait_timeout", "place_order").code()).isEqualTo("lock_wait_timeout");
        assertThat(Database.unavailable("disconnect", "get_order").code()).isEqualTo("database_unavailable");
        assertThat(Database.unavailable("other", "get_order").status()).isEqualTo(503);
        assertThat(Database.unavailable("deadlock", "place_order").getMessage())
                .isEqualTo("place_order: the transaction was chosen as a deadlock victim; retry the request");
    }
}
