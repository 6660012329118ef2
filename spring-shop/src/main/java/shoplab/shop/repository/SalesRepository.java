package shoplab.shop.repository;

import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Modifying;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;
import shoplab.shop.domain.ProductSalesDaily;

/** The daily sales aggregate, added to inside each order's transaction. */
public interface SalesRepository extends JpaRepository<ProductSalesDaily, ProductSalesDaily.Key> {

    @Modifying
    @Query(value = "INSERT INTO product_sales_daily (day, product_id, quantity)"
            + " VALUES (UTC_DATE(), :productId, :quantity)"
            + " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity)", nativeQuery = true)
    int addSales(@Param("productId") long productId, @Param("quantity") int quantity);
}
