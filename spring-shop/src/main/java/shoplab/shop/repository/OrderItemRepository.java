package shoplab.shop.repository;

import org.springframework.data.jpa.repository.JpaRepository;
import shoplab.shop.domain.OrderItem;

/** Order lines: written with their order (read back through OrderRepository.findLines). */
public interface OrderItemRepository extends JpaRepository<OrderItem, Long> {
}
