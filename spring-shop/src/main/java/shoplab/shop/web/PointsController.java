package shoplab.shop.web;

import jakarta.servlet.http.HttpServletRequest;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import shoplab.shop.config.ShopSettings;
import shoplab.shop.service.PointsService;

/** GET /api/users/{user_id}/points and POST /api/users/{user_id}/points/charge. */
@RestController
public record PointsController(PointsService points, ShopSettings settings) {

    @GetMapping("/api/users/{user_id:\\d+}/points")
    public PointsService.Points get(@PathVariable("user_id") long userId) {
        return points.points(userId);
    }

    @PostMapping("/api/users/{user_id:\\d+}/points/charge")
    public PointsService.Points charge(@PathVariable("user_id") long userId, HttpServletRequest request) {
        var body = RequestParsing.jsonObject(request, settings.maxBodyBytes());
        long amount = RequestParsing.integer(RequestParsing.required(body, "amount", "amount"),
                "amount", 1, settings.maxCharge());
        return points.charge(userId, amount);
    }
}
