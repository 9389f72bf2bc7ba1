# Warning flags for the project's own targets (never forced on users' targets).
function(cubby_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  if(CUBBY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
