// model_check/relacy/relacy_main.cpp: main() of the Relacy build of the model tests.
#include "cubby_mc/relacy_platform.hpp"

int main(int argc, char** argv) { return cubby::mc::run_main(argc, argv); }
