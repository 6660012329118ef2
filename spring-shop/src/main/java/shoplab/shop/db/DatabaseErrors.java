package shoplab.shop.db;

import java.sql.SQLException;
import java.util.Set;

/**
 * What a database failure means, from the MySQL error number under whatever wraps it (Spring's
 * {@code CannotAcquireLockException}, Hibernate's {@code LockAcquisitionException}, a JDBC
 * exception): the {@code kind} of shop_db_errors_total, as the Flask shop's shop/db.py classifies.
 */
public final class DatabaseErrors {

    public static final int ER_LOCK_DEADLOCK = 1213;
    public static final int ER_LOCK_WAIT_TIMEOUT = 1205;
    public static final int ER_DUP_ENTRY = 1062;
    /** Client-side codes (CR_*) and server codes that mean the connection is gone. */
    static final Set<Integer> DISCONNECT_CODES =
            Set.of(2002, 2003, 2006, 2013, 2055, 1053, 1077, 1152, 1927, 4031);

    /** The kind of a duplicate key: not a failure of the database, the caller decides. */
    public static final String DUPLICATE = "duplicate";

    private DatabaseErrors() {
    }

    /** The first SQLException in the cause chain, or null. */
    public static SQLException sqlCause(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql) {
                return sql;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return null;
    }

    /** deadlock, lock_wait_timeout, duplicate, disconnect or other. */
    public static String classify(Throwable error) {
        SQLException sql = sqlCause(error);
        if (sql == null) {
            return "other";
        }
        int code = sql.getErrorCode();
        if (code == ER_LOCK_DEADLOCK) {
            return "deadlock";
        }
        if (code == ER_LOCK_WAIT_TIMEOUT) {
            return "lock_wait_timeout";
        }
        if (code == ER_DUP_ENTRY) {
            return DUPLICATE;
        }
        String state = sql.getSQLState();
        // SQLSTATE class 08: connection exception (refused, cut, timed out reading).
        if (DISCONNECT_CODES.contains(code) || (state != null && state.startsWith("08"))) {
            return "disconnect";
        }
        return "other";
    }
}
