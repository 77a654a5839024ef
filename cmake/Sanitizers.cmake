# ANALYZER_SANITIZER=address builds everything with ASan+UBSan, =thread with TSan.
# Applied globally so that tests and the library agree on the instrumented ABI.
if(ANALYZER_SANITIZER STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(ANALYZER_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT ANALYZER_SANITIZER STREQUAL "")
  message(FATAL_ERROR "ANALYZER_SANITIZER must be empty, 'address' or 'thread' (got '${ANALYZER_SANITIZER}')")
endif()
