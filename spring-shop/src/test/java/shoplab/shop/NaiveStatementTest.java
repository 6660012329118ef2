package shoplab.shop;

import static org.assertj.core.api.Assertions.assertThat;

import org.hibernate.SessionFactory;
import org.hibernate.boot.MetadataSources;
import org.hibernate.boot.registry.StandardServiceRegistry;
import org.hibernate.boot.registry.StandardServiceRegistryBuilder;
import org.hibernate.dialect.MariaDBDialect;
import org.hibernate.engine.spi.SessionFactoryImplementor;
import org.hibernate.persister.entity.AbstractEntityPersister;
import org.hibernate.persister.entity.mutation.UpdateCoordinatorStandard;
import org.hibernate.sql.model.jdbc.JdbcMutationOperation;
import org.junit.jupiter.api.Test;
import shoplab.shop.domain.Order;
import shoplab.shop.domain.OrderItem;
import shoplab.shop.domain.Payment;
import shoplab.shop.domain.PointHistory;
import shoplab.shop.domain.Product;
import shoplab.shop.domain.ProductSalesDaily;
import shoplab.shop.domain.User;

/**
 * The statement the naive path's flush sends, from Hibernate's own mapping of the entities, with
 * no database: the seed's {@code update users set deleted_at=?,is_deleted=?,point=?,username=?
 * where id=?}, carrying its {@code update for} comment. (DatabaseTest sees it sent.)
 */
class NaiveStatementTest {

    @Test
    void theUserEntitysUpdateIsTheSeedsStatement() {
        StandardServiceRegistry registry = new StandardServiceRegistryBuilder()
                .applySetting("hibernate.dialect", MariaDBDialect.class.getName())
                .applySetting("hibernate.boot.allow_jdbc_metadata_access", "false")
                .applySetting("hibernate.use_sql_comments", "true")
                .applySetting("hibernate.hbm2ddl.auto", "none")
                .build();
        try (SessionFactory factory = new MetadataSources(registry)
                .addAnnotatedClasses(User.class, Product.class, Order.class, OrderItem.class,
                        Payment.class, PointHistory.class, ProductSalesDaily.class)
                .buildMetadata().buildSessionFactory()) {
            var persister = (AbstractEntityPersister) factory.unwrap(SessionFactoryImplementor.class)
                    .getMappingMetamodel().getEntityDescriptor(User.class);
            var update = (UpdateCoordinatorStandard) persister.getUpdateCoordinator();
            var operation = (JdbcMutationOperation) update.getStaticMutationOperationGroup().getSingleOperation();
            assertThat(operation.getSqlString()).isEqualTo("/* update for shoplab.shop.domain.User */"
                    + "update users set deleted_at=?,is_deleted=?,point=?,username=? where id=?");
        } finally {
            StandardServiceRegistryBuilder.destroy(registry);
        }
    }
}
