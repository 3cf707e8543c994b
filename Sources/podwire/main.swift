import PodwireKit

PodwireCommand.main()
