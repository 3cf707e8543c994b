print("podwire")
