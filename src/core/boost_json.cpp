// Boost.JSON's implementation, compiled once for the whole project.
#include <boost/json/src.hpp>
