"""What a model's prediction becomes: the Prediction record, Targets post-processing, Output
fields, and ModelVerification replay."""
