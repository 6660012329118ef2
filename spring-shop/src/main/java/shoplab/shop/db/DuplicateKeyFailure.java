package shoplab.shop.db;

/** A unique key refused a row (1062): another transaction committed it first. */
public class DuplicateKeyFailure extends RuntimeException {
    public DuplicateKeyFailure(Throwable cause) {
        super(cause.getMessage(), cause, false, false);
    }
}
