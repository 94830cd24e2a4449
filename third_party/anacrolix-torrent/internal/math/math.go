package math
