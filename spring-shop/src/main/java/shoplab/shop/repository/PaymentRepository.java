package shoplab.shop.repository;

import org.springframework.data.jpa.repository.JpaRepository;
import shoplab.shop.domain.Payment;

/** Payments: written once per order. */
public interface PaymentRepository extends JpaRepository<Payment, Long> {
}
