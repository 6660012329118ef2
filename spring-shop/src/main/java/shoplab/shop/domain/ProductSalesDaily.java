package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Embeddable;
import jakarta.persistence.EmbeddedId;
import jakarta.persistence.Entity;
import jakarta.persistence.Table;
import java.io.Serializable;
import java.time.LocalDate;

/**
 * Units sold per product per UTC day, kept inside every order's transaction: the popular list
 * reads at most days x products rows of it. Mapped so that the schema check covers it; written
 * by one upsert ({@code OrderWrites.addSales}).
 */
@Entity
@Table(name = "product_sales_daily")
public class ProductSalesDaily {

    /** (day, product_id), the table's primary key. */
    @Embeddable
    public record Key(@Column(name = "day") LocalDate day,
                      @Column(name = "product_id") Long productId) implements Serializable {
    }

    @EmbeddedId
    private Key key;

    @Column(nullable = false)
    private long quantity;

    protected ProductSalesDaily() {
    }
}
