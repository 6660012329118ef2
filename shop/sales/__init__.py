"""The daily sales off the order path (SHOP_SALES_MODE=async): the queue, its consumer, metrics."""
