"""The row a naive script writes for a product: shared by naive_feed.py and floor.py."""


def row(product: dict) -> list | None:
    if not product.get("product_code"):
        return None
    stock, price = product.get("stock"), product.get("price")
    return [product["product_code"], product.get("name") or "",
            stock if isinstance(stock, int) and stock > 0 else "",
            f"{price:.2f}" if isinstance(price, (int, float)) else ""]
