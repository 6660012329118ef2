package shoplab.shop.errors;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An error the client sees as {@code {"error": {"code", "message", "field"?}}} with {@link #status};
 * the subclasses are the domain's (the Flask shop's shop/errors.py, one for one).
 */
public class ShopException extends RuntimeException {

    private final int status;
    private final String code;
    private final String field;

    public ShopException(int status, String code, String message, String field) {
        super(message, null, false, false); // an answer, not a fault: no stack trace to fill
        this.status = status;
        this.code = code;
        this.field = field;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public String field() {
        return field;
    }

    public Map<String, Object> body() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", code);
        error.put("message", getMessage());
        if (field != null) {
            error.put("field", field);
        }
        return Map.of("error", error);
    }

    public static ShopException invalid(String message, String field) {
        return new ShopException(400, "invalid", message, field);
    }

    public static ShopException missing(String field) {
        return new ShopException(400, "missing", field + " is required", field);
    }

    public static ShopException notFound(String message, String field) {
        return new ShopException(404, "not_found", message, field);
    }

    public static ShopException outOfStock(String message, String field) {
        return new ShopException(409, "out_of_stock", message, field);
    }

    public static ShopException insufficientPoints(String message, String field) {
        return new ShopException(409, "insufficient_points", message, field);
    }

    public static ShopException keyReused() {
        return new ShopException(409, "idempotency_key_reused",
                "this Idempotency-Key was used for a different order", "Idempotency-Key");
    }

    /** A dependency failed (database down, a deadlock the strategy did not absorb): a 503. */
    public static ShopException unavailable(String code, String message) {
        return new ShopException(503, code, message, null);
    }

    public boolean isUnavailable() {
        return status == 503;
    }
}
