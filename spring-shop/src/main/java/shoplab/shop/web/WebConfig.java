package shoplab.shop.web;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.servlet.HandlerInterceptor;
import org.springframework.web.servlet.config.annotation.InterceptorRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;
import shoplab.shop.config.ShopSettings;

/**
 * SHOP_DEBUG_DELAY_MS (off unless set): every /api request sleeps that long first, inside the
 * request timer, so that a test or the CI gate can prove it catches a slow shop.
 */
@Configuration
public class WebConfig implements WebMvcConfigurer {

    private final ShopSettings settings;

    public WebConfig(ShopSettings settings) {
        this.settings = settings;
    }

    @Override
    public void addInterceptors(InterceptorRegistry registry) {
        int delay = settings.debugDelayMs();
        if (delay <= 0) {
            return;
        }
        LoggerFactory.getLogger(WebConfig.class).warn(
                "SHOP_DEBUG_DELAY_MS={}: every API request is slowed on purpose", delay);
        registry.addInterceptor(new HandlerInterceptor() {
            @Override
            public boolean preHandle(HttpServletRequest request, HttpServletResponse response, Object handler)
                    throws InterruptedException {
                Thread.sleep(delay);
                return true;
            }
        }).addPathPatterns("/api/**");
    }
}
