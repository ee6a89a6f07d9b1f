"""ppml_hospitals: FedAvg of a logistic regression over the course's hospitals, as a Flower app."""
