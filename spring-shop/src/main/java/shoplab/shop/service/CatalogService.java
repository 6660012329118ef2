package shoplab.shop.service;

import java.util.List;
import org.springframework.stereotype.Service;
import shoplab.shop.db.Database;
import shoplab.shop.domain.Product;
import shoplab.shop.errors.ShopException;
import shoplab.shop.repository.ProductRepository;

/** Products: a page by id, one product, and the popular list over the daily sales aggregate. */
@Service
public class CatalogService {

    /** A product as the API answers it. */
    public record ProductBody(long id, String name, long price, int stock) {
        static ProductBody of(Product p) {
            return new ProductBody(p.getId(), p.getName(), p.getPrice(), p.getStock());
        }
    }

    /** A page of products. */
    public record Page(List<ProductBody> items, int limit, long offset, long total) {
    }

    /** A best seller of the window. */
    public record Popular(long id, String name, long price, long quantitySold) {
    }

    private final ProductRepository products;
    private final Database database;

    public CatalogService(ProductRepository products, Database database) {
        this.products = products;
        this.database = database;
    }

    public Page list(int limit, long offset) {
        return database.read("list_products", () -> new Page(
                products.page(limit, offset).stream().map(ProductBody::of).toList(),
                limit, offset, products.count()));
    }

    public ProductBody product(long productId) {
        return database.read("get_product", () -> products.findById(productId).map(ProductBody::of))
                .orElseThrow(() -> ShopException.notFound(
                        "product " + productId + " does not exist", "product_id"));
    }

    /** Top sellers by quantity over the last `days` UTC days (today included), uncached. */
    public List<Popular> popular(int days, int limit) {
        return database.read("popular_products", () -> products.popular(days, limit).stream()
                .map(s -> new Popular(s.getId(), s.getName(), s.getPrice(), s.getQuantity()))
                .toList());
    }
}
