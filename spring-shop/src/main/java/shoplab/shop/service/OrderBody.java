package shoplab.shop.service;

import java.util.List;

/** An order as the API answers it (snake_case on the wire: order_id, user_id, ...). */
public record OrderBody(long orderId, long userId, long total, String status, List<Item> items) {

    /** A line with the price the order paid. */
    public record Item(long productId, int quantity, long price) {
    }
}
