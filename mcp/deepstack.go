package mcp

// onDeepStack runs f on a goroutine of its own and waits for it. OPA's
// evaluator recurses about 40 KB deep: run on the request's goroutine, it
// grows that goroutine's stack to 64–128 KB, which the goroutine keeps
// while it then waits in a long-poll (1,000 waiting polls held 100–200 MB
// of stacks). A goroutine that ends gives its deep stack back for the next
// one at once. A panic in f is raised again in the caller, where the
// server's recovery handles it.
func onDeepStack[T any](f func() (T, error)) (T, error) {
	type result struct {
		v     T
		err   error
		panic any
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panic = recover()
			ch <- r
		}()
		r.v, r.err = f()
	}()
	r := <-ch
	if r.panic != nil {
		panic(r.panic)
	}
	return r.v, r.err
}
