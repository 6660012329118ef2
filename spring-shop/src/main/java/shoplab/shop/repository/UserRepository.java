package shoplab.shop.repository;

import java.util.Optional;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.Modifying;
import org.springframework.data.jpa.repository.Query;
import org.springframework.data.repository.query.Param;
import shoplab.shop.domain.User;

/** Users and their points: the entity for the naive path, targeted updates for the rest. */
public interface UserRepository extends JpaRepository<User, Long> {

    /**
     * The team's fix: the balance changed by id, guarded, in one statement that takes the row's
     * exclusive lock at once (no shared lock to upgrade). 1 if paid, 0 if the user is unknown or
     * short of points.
     */
    @Modifying
    @Query(value = "update users set point = point - :total where id = :id and point >= :total",
            nativeQuery = true)
    int payFromBalance(@Param("id") long id, @Param("total") long total);

    @Modifying
    @Query(value = "update users set point = point + :amount where id = :id", nativeQuery = true)
    int addPoints(@Param("id") long id, @Param("amount") long amount);

    @Query("select u.point from User u where u.id = :id")
    Optional<Long> findPoint(@Param("id") long id);
}
