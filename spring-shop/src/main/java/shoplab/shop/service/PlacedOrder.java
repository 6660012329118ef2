package shoplab.shop.service;

/** The order an order request resulted in; `replayed` when an Idempotency-Key found it. */
public record PlacedOrder(OrderBody order, boolean replayed) {
}
