package shoplab.shop.domain;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Table;

/** A product with its price and stock; stock is only ever taken by a guarded update. */
@Entity
@Table(name = "products")
public class Product extends Row {

    @Column(nullable = false, length = 128)
    private String name;

    @Column(nullable = false)
    private long price;

    @Column(nullable = false)
    private int stock;

    // What stock started at: sold = initial_stock - stock (an invariant of the audit).
    @Column(name = "initial_stock", nullable = false)
    private int initialStock;

    protected Product() {
    }

    public String getName() {
        return name;
    }

    public long getPrice() {
        return price;
    }

    public int getStock() {
        return stock;
    }
}
