package shoplab.shop.service;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The body an Idempotency-Key is bound to, hashed exactly as the Flask shop does
 * (sha256 of {@code [user_id,[[product_id,quantity],...]]}, lines sorted): a key used on one
 * shop is honoured by the other on the same database.
 */
public final class RequestHash {

    private RequestHash() {
    }

    public static String of(long userId, List<OrderLine> lines) {
        String canonical = "[" + userId + ",[" + lines.stream()
                .sorted(Comparator.comparingLong(OrderLine::productId).thenComparingInt(OrderLine::quantity))
                .map(l -> "[" + l.productId() + "," + l.quantity() + "]")
                .collect(Collectors.joining(",")) + "]]";
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(canonical.getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
