"""Model families: Lightning nets and classical (scikit-learn API) estimators."""
