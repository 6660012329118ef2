package shoplab.shop.service;

/** One requested line: a product and how many. */
public record OrderLine(long productId, int quantity) {
}
