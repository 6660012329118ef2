package shoplab.shop.web;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import jakarta.servlet.http.HttpServletRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import shoplab.shop.errors.ShopException;
import shoplab.shop.service.OrderLine;

/**
 * Request parsing: JSON bodies and query parameters into checked values, or the named 4xx the
 * Flask shop answers (shop/validation.py, rule for rule). Bodies are read as a JSON tree, not
 * bound to objects: the contract wants {@code 2.0}, {@code true} and {@code "10"} rejected as
 * integers and each error to name its field ({@code items[1].quantity}), which data binding
 * would coerce or lose.
 */
public final class RequestParsing {

    public static final BigInteger MAX_ID = BigInteger.valueOf(Long.MAX_VALUE);
    public static final int MAX_QUANTITY = 1000;
    public static final int MAX_LINES = 50;
    private static final Pattern KEY = Pattern.compile("[A-Za-z0-9_.:\\-]{1,64}");
    private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");
    // Python's json.loads refuses what follows the value: so does this reader.
    private static final ObjectReader STRICT = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).reader();

    private RequestParsing() {
    }

    /** The JSON object a request carries: 415 if it says it is not JSON, 413 over `maxBytes`. */
    public static JsonNode jsonObject(HttpServletRequest request, int maxBytes) {
        if (!isJson(request.getContentType())) {
            throw new ShopException(415, "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json", null);
        }
        byte[] raw = readAtMost(request, maxBytes);
        JsonNode body;
        try {
            body = raw.length == 0 ? null : STRICT.readTree(raw);
        } catch (JacksonException e) {
            throw new ShopException(400, "malformed_json",
                    "body is not valid JSON: " + e.getOriginalMessage(), null);
        } catch (IOException e) {
            throw new ShopException(400, "malformed_json", "body is not valid JSON", null);
        }
        if (body == null) {
            throw new ShopException(400, "malformed_json", "body is not valid JSON: it is empty", null);
        }
        if (!body.isObject()) {
            throw ShopException.invalid("body must be a JSON object", null);
        }
        return body;
    }

    static boolean isJson(String contentType) {
        if (contentType == null) {
            return false;
        }
        String type = contentType.split(";", 2)[0].trim().toLowerCase();
        return type.equals("application/json") || (type.startsWith("application/") && type.endsWith("+json"));
    }

    private static byte[] readAtMost(HttpServletRequest request, int maxBytes) {
        if (request.getContentLengthLong() > maxBytes) {
            throw tooLarge(maxBytes);
        }
        try (InputStream in = request.getInputStream()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[8192];
            int n;
            while ((n = in.read(chunk)) != -1) {
                out.write(chunk, 0, n);
                if (out.size() > maxBytes) {
                    throw tooLarge(maxBytes);
                }
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new ShopException(400, "malformed", "the request body could not be read", null);
        }
    }

    private static ShopException tooLarge(int maxBytes) {
        return new ShopException(413, "too_large", "request body is larger than " + maxBytes + " bytes", null);
    }

    /** `value` as an integer in [lo, hi]: a JSON integer, not a float, bool or string. */
    public static long integer(JsonNode value, String field, long lo, long hi) {
        if (value == null || !value.isIntegralNumber()) {
            throw ShopException.invalid(field + " must be an integer", field);
        }
        BigInteger v = value.bigIntegerValue();
        if (v.compareTo(BigInteger.valueOf(lo)) < 0 || v.compareTo(BigInteger.valueOf(hi)) > 0) {
            throw ShopException.invalid(field + " must be between " + lo + " and " + hi, field);
        }
        return v.longValueExact();
    }

    /** `body[name]`, which must be there and not null. */
    public static JsonNode required(JsonNode body, String name, String field) {
        JsonNode value = body.get(name);
        if (value == null || value.isNull()) {
            throw ShopException.missing(field);
        }
        return value;
    }

    /** A query parameter given at most once, an integer in [lo, hi]; `fallback` when absent. */
    public static long queryInt(HttpServletRequest request, String name, long fallback, long lo, long hi) {
        String[] given = request.getParameterValues(name);
        if (given == null || given.length == 0) {
            return fallback;
        }
        // `?limit=` and `?limit=1&limit=2` are no integer: the contract's 400, not a guess.
        if (given.length > 1) {
            throw ShopException.invalid(name + " must be given once", name);
        }
        String raw = given[0].strip();
        if (!INTEGER.matcher(raw).matches()) {
            throw ShopException.invalid(name + " must be an integer", name);
        }
        BigInteger v = new BigInteger(raw);
        if (v.compareTo(BigInteger.valueOf(lo)) < 0 || v.compareTo(BigInteger.valueOf(hi)) > 0) {
            throw ShopException.invalid(name + " must be between " + lo + " and " + hi, name);
        }
        return v.longValueExact();
    }

    /** An order request's user and lines. */
    public record OrderRequest(long userId, List<OrderLine> lines) {
    }

    public static OrderRequest orderRequest(JsonNode body) {
        long userId = integer(required(body, "user_id", "user_id"), "user_id", 1, Long.MAX_VALUE);
        JsonNode items = required(body, "items", "items");
        if (!items.isArray()) {
            throw ShopException.invalid("items must be a list", "items");
        }
        if (items.size() < 1 || items.size() > MAX_LINES) {
            throw ShopException.invalid("items must have 1 to " + MAX_LINES + " lines", "items");
        }
        List<OrderLine> lines = new ArrayList<>();
        Map<Long, Integer> placed = new HashMap<>();
        for (int i = 0; i < items.size(); i++) {
            JsonNode item = items.get(i);
            if (!item.isObject()) {
                throw ShopException.invalid("items[" + i + "] must be an object", "items[" + i + "]");
            }
            String pidField = "items[" + i + "].product_id";
            String qtyField = "items[" + i + "].quantity";
            long productId = integer(required(item, "product_id", pidField), pidField, 1, Long.MAX_VALUE);
            int quantity = (int) integer(required(item, "quantity", qtyField), qtyField, 1, MAX_QUANTITY);
            addLine(lines, placed, new OrderLine(productId, quantity, i));
        }
        return new OrderRequest(userId, lines);
    }

    /**
     * The one rule for a product named on several lines (the contract's, as the Flask shop
     * keeps it): one line, the quantities added, where the product first appeared; each line is
     * still 1 to 1000, the sum bounded by the stock alone.
     */
    private static void addLine(List<OrderLine> lines, Map<Long, Integer> placed, OrderLine line) {
        Integer at = placed.get(line.productId());
        if (at == null) {
            placed.put(line.productId(), lines.size());
            lines.add(line);
            return;
        }
        OrderLine first = lines.get(at);
        lines.set(at, new OrderLine(first.productId(), first.quantity() + line.quantity(), first.line()));
    }

    /** The Idempotency-Key header, checked; null when absent. */
    public static String idempotencyKey(HttpServletRequest request) {
        String key = request.getHeader("Idempotency-Key");
        if (key == null) {
            return null;
        }
        if (!KEY.matcher(key).matches()) {
            throw ShopException.invalid(
                    "Idempotency-Key must be 1 to 64 characters of letters, digits and _ . : -",
                    "Idempotency-Key");
        }
        return key;
    }
}
