package shoplab.shop.db;

import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;
import shoplab.shop.errors.ShopException;
import shoplab.shop.metrics.ShopMetrics;

/**
 * The shop's database boundary: every call runs in one transaction here, its failures counted by
 * operation and kind, a deadlock retried (with jittered exponential backoff, so the losers of one
 * deadlock do not collide again in lock step) and whatever outlives the retries turned into a
 * 503. A lock-wait timeout is not retried: it already cost the whole innodb_lock_wait_timeout
 * behind a lock that is still held. The Flask shop's run_transaction / run_read, in Spring.
 */
@Component
public class Database {

    private static final Logger log = LoggerFactory.getLogger(Database.class);

    private final TransactionTemplate writes;
    private final TransactionTemplate reads;
    private final ShopMetrics metrics;

    public Database(PlatformTransactionManager transactions, ShopMetrics metrics) {
        this.writes = new TransactionTemplate(transactions);
        this.reads = new TransactionTemplate(transactions);
        this.reads.setReadOnly(true);
        this.metrics = metrics;
    }

    /** `work` in a read-only transaction; its database errors mapped like writes'. */
    public <T> T read(String operation, Supplier<T> work) {
        return run(reads, operation, 0, work);
    }

    /** `work` in one transaction, all or nothing; deadlocks retried `retries` times. */
    public <T> T write(String operation, int retries, Supplier<T> work) {
        return run(writes, operation, retries, work);
    }

    private <T> T run(TransactionTemplate template, String operation, int retries, Supplier<T> work) {
        int attempt = 0;
        while (true) {
            try {
                return template.execute(status -> work.get());
            } catch (ShopException | DuplicateKeyFailure e) {
                throw e;
            } catch (RuntimeException e) {
                String kind = DatabaseErrors.classify(e);
                if (kind.equals(DatabaseErrors.DUPLICATE)) {
                    throw new DuplicateKeyFailure(e);
                }
                if (DatabaseErrors.sqlCause(e) == null && !isDataAccess(e)) {
                    throw e; // not the database's: a bug, answered 500 by ErrorAdvice
                }
                metrics.dbError(operation, kind);
                if (kind.equals("deadlock") && attempt < retries) {
                    attempt++;
                    metrics.dbRetry(operation);
                    backoff(attempt);
                    continue;
                }
                // One line, as the seed's log had it: what failed, and the server's words.
                log.warn("{}: {}: {}", operation, e.getClass().getSimpleName(), e.getMessage());
                throw unavailable(kind, operation);
            }
        }
    }

    private static boolean isDataAccess(RuntimeException e) {
        return e instanceof org.springframework.dao.DataAccessException
                || e instanceof org.springframework.transaction.TransactionException
                || e instanceof jakarta.persistence.PersistenceException;
    }

    private static void backoff(int attempt) {
        double ceiling = Math.min(0.2, 0.005 * Math.pow(2, attempt));
        try {
            Thread.sleep((long) (ThreadLocalRandom.current().nextDouble(0, ceiling) * 1000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The 503 of a database failure of `kind` (the Flask shop's unavailable_for). */
    public static ShopException unavailable(String kind, String operation) {
        String message = switch (kind) {
            case "deadlock" -> "the transaction was chosen as a deadlock victim; retry the request";
            case "lock_wait_timeout" -> "timed out waiting for a row lock; retry the request";
            case "disconnect" -> "the database is unreachable";
            default -> "the database failed";
        };
        String code = kind.equals("deadlock") || kind.equals("lock_wait_timeout")
                ? kind : "database_unavailable";
        return ShopException.unavailable(code, operation + ": " + message);
    }
}
