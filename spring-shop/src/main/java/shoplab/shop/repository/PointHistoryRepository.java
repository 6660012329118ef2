package shoplab.shop.repository;

import org.springframework.data.jpa.repository.JpaRepository;
import shoplab.shop.domain.PointHistory;

/** The point movements: a use per order, a charge per top-up. */
public interface PointHistoryRepository extends JpaRepository<PointHistory, Long> {
}
