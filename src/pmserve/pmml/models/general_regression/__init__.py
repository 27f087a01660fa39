"""GeneralRegressionModel: linear, generalised linear, logistic, ordinal and Cox models (PMML 4.4
"GeneralRegression").

The PPMatrix says how each parameter's predictor value comes from the inputs: the product of its
cells, where a factor cell is 1 when the field equals the cell's value (or, for a factor with a
contrast Matrix, the matrix element at the field's and the cell's categories) and a covariate
cell is the field raised to the cell's value.  A parameter without PPMatrix cells is a constant
1 (an intercept).  The ParamMatrix gives each parameter's beta per target category.

Compiling builds one design matrix plan (rows x parameters) and a beta matrix (parameters x
categories); scoring evaluates the design matrix once per batch and accumulates the products in
the ParamMatrix order, as JPMML-Evaluator sums them.  Missing values, category order, the
reference category and the Cox regression lookup follow JPMML-Evaluator:

* a missing factor, or a missing covariate of a term whose factors match, makes the linear
  predictor missing (the Targets' default value / prior probabilities then apply);
* the classes are the target's DataField values, the reference category moved to the end;
* offsetVariable, trialsVariable, endTimeVariable and baselineStrataVariable must have a value:
  a record where one is missing fails.

Modules: :mod:`~.design` (PPMatrix, ParamMatrix and the design matrix), :mod:`~.links` (link
functions, offset and trials), :mod:`~.predictors` (the registered compiler and its predictors),
:mod:`~.cox` (Cox regression).
"""
