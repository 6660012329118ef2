package shoplab.shop.repository;

import java.util.Collection;
import java.util.List;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Modifying;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;
import shoplab.shop.domain.Product;

/** Products: pages, prices, the guarded stock update and the popular list's query. */
public interface ProductRepository extends JpaRepository<Product, Long> {

    /** A product's id and price. */
    interface Price {
        long getId();

        long getPrice();
    }

    /** A row of the popular list: units sold over the window. */
    interface Sold {
        long getId();

        String getName();

        long getPrice();

        long getQuantity();
    }

    @Query(value = "SELECT * FROM products ORDER BY id LIMIT :limit OFFSET :offset", nativeQuery = true)
    List<Product> page(@Param("limit") int limit, @Param("offset") long offset);

    @Query("select p.id as id, p.price as price from Product p where p.id in :ids")
    List<Price> findPrices(@Param("ids") Collection<Long> ids);

    /** 1 if `quantity` was taken, 0 if the product is short of it. */
    @Modifying
    @Query(value = "update products set stock = stock - :quantity where id = :id and stock >= :quantity",
            nativeQuery = true)
    int takeStock(@Param("id") long id, @Param("quantity") int quantity);

    // Reads at most days x products rows of the daily aggregate, however many orders there are.
    @Query(value = "SELECT p.id AS id, p.name AS name, p.price AS price, s.quantity AS quantity FROM ("
            + " SELECT product_id, SUM(quantity) AS quantity FROM product_sales_daily"
            + " WHERE day > UTC_DATE() - INTERVAL :days DAY"
            + " GROUP BY product_id ORDER BY quantity DESC, product_id LIMIT :limit"
            + ") s JOIN products p ON p.id = s.product_id ORDER BY s.quantity DESC, p.id",
            nativeQuery = true)
    List<Sold> popular(@Param("days") int days, @Param("limit") int limit);
}
