package shoplab.shop.web;

import jakarta.servlet.http.HttpServletRequest;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import shoplab.shop.config.ShopSettings;
import shoplab.shop.service.OrderBody;
import shoplab.shop.service.OrderService;
import shoplab.shop.service.PlacedOrder;

/** POST /api/orders (201, Location, Idempotent-Replayed) and GET /api/orders/{order_id}. */
@RestController
public record OrderController(OrderService orders, ShopSettings settings) {

    @PostMapping("/api/orders")
    public ResponseEntity<OrderBody> place(HttpServletRequest request) {
        String key = RequestParsing.idempotencyKey(request);
        var order = RequestParsing.orderRequest(RequestParsing.jsonObject(request, settings.maxBodyBytes()));
        PlacedOrder placed = orders.placeOrder(order.userId(), order.lines(), key);
        var response = ResponseEntity.status(201).header("Location", "/api/orders/" + placed.order().orderId());
        if (placed.replayed()) {
            response.header("Idempotent-Replayed", "true");
        }
        return response.body(placed.order());
    }

    @GetMapping("/api/orders/{order_id:\\d+}")
    public OrderBody get(@PathVariable("order_id") long orderId) {
        return orders.getOrder(orderId);
    }
}
