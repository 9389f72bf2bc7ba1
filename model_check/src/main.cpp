// model_check/src/main.cpp: main() for executables of MC_TEST model tests.
#include "cubby_mc/mc.hpp"

int main(int argc, char** argv) { return cubby::mc::run_main(argc, argv); }
