# CUBBY_SANITIZE applies to every target of this build (tests, stress, model
# checks and the library itself), so that instrumented and plain code never mix.
# cubby's own link option carries it to projects that link the instrumented
# library (add_subdirectory, or an installed sanitized build): see cubby_sanitized.
if(CUBBY_SANITIZE)
  string(REPLACE "," ";" _cubby_sans "${CUBBY_SANITIZE}")
  foreach(_s IN LISTS _cubby_sans)
    if(NOT _s MATCHES "^(thread|address|undefined|leak)$")
      message(FATAL_ERROR "CUBBY_SANITIZE: unknown sanitizer '${_s}' (use thread, address, undefined)")
    endif()
  endforeach()
  if("thread" IN_LIST _cubby_sans AND ("address" IN_LIST _cubby_sans OR "leak" IN_LIST _cubby_sans))
    message(FATAL_ERROR "CUBBY_SANITIZE: '${CUBBY_SANITIZE}': thread cannot be combined with address or leak")
  endif()
  add_compile_options(-fsanitize=${CUBBY_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${CUBBY_SANITIZE})
  if(CUBBY_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()

# cubby_sanitized(target): whoever links `target` links the sanitizer runtime.
function(cubby_sanitized target)
  if(CUBBY_SANITIZE)
    target_link_options(${target} INTERFACE -fsanitize=${CUBBY_SANITIZE})
  endif()
endfunction()
