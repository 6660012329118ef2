package shoplab.shop.web;

import jakarta.servlet.http.HttpServletRequest;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import shoplab.shop.service.CatalogService;
import shoplab.shop.service.PopularCache;

/** GET /api/products, /api/products/popular, /api/products/{product_id}. */
@RestController
public record ProductController(CatalogService catalog, PopularCache popular) {

    @GetMapping("/api/products")
    public CatalogService.Page list(HttpServletRequest request) {
        int limit = (int) RequestParsing.queryInt(request, "limit", 20, 1, 100);
        long offset = RequestParsing.queryInt(request, "offset", 0, 0, 10_000_000);
        return catalog.list(limit, offset);
    }

    @GetMapping("/api/products/popular")
    public ResponseEntity<byte[]> popular(HttpServletRequest request) {
        int days = (int) RequestParsing.queryInt(request, "days", 3, 1, 30);
        int limit = (int) RequestParsing.queryInt(request, "limit", 5, 1, 100);
        // Cached as the response's bytes: a hit costs no JSON work.
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(popular.popular(days, limit));
    }

    // Digits only, as the Flask route's <int:...>: anything else is an unknown path (404).
    @GetMapping("/api/products/{product_id:\\d+}")
    public CatalogService.ProductBody product(@PathVariable("product_id") long productId) {
        return catalog.product(productId);
    }
}
