package shoplab.shop.service;

/**
 * One requested line: a product and how many. {@code line} is the client's line it came from
 * (the first, when several lines named the product and were merged into this one): an error
 * names that line's field. -1: its own place in the list.
 */
public record OrderLine(long productId, int quantity, int line) {

    public OrderLine(long productId, int quantity) {
        this(productId, quantity, -1);
    }
}
